import sys

from rag.bench.run import main

sys.exit(main())
