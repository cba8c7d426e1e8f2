"""Scale-out ingest: ``ray_ingest`` splits and embeds on a Ray cluster while this process writes the index
(``newsrag ingest FILES --ray HOST:PORT``); ``stages`` is what the cluster's workers run."""
