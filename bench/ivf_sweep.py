"""Sweep IVF nlist / nprobe on synthetic vectors (or saved real ones): recall@10 vs exact and single-query
latency, to tune ``rag.backends.local.vectors.ivf_params``.

    python -m bench.ivf_sweep --n 1000000 --nlist 1024 2048 4096 --nprobe 16 32 64 128 256
    python -m bench.ivf_sweep --vectors passages.npy --queries questions.npy --nlist 256 --nprobe 8 16 32
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rag.backends.local.vectors import _faiss, omp_threads, train_size
from rag.bench.synthetic import exact_top_k, recall_at_k, synthetic_vectors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--vectors", help=".npy of passage vectors instead of synthetic ones")
    p.add_argument("--queries", help=".npy of query vectors (with --vectors)")
    p.add_argument("--count", type=int, default=200, help="synthetic queries")
    p.add_argument("--nlist", type=int, nargs="+", default=[1024, 2048, 4096])
    p.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    args = p.parse_args()
    faiss = _faiss()
    data = np.load(args.vectors) if args.vectors else synthetic_vectors(args.n)
    probe = np.load(args.queries) if args.queries else synthetic_vectors(args.count, seed=1)
    truth = exact_top_k(data, probe)
    rng = np.random.default_rng(0)
    for nlist in args.nlist:
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(data.shape[1]), data.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        sample = data[rng.choice(len(data), size=min(len(data), train_size(nlist)), replace=False)]
        t0 = time.perf_counter()
        with omp_threads(2):
            ivf.train(sample)
            ivf.add(data)
        build = time.perf_counter() - t0
        for nprobe in args.nprobe:
            ivf.nprobe = nprobe
            found, times = [], []
            for q in probe:
                t = time.perf_counter()
                with omp_threads(1):
                    found.append(ivf.search(q[None, :], 10)[1][0])
                times.append((time.perf_counter() - t) * 1000)
            print(f"n={len(data)} nlist={nlist} build={build:.1f}s nprobe={nprobe} "
                  f"recall@10={recall_at_k(np.vstack(found), truth):.3f} p50={np.percentile(times, 50):.2f}ms "
                  f"p95={np.percentile(times, 95):.2f}ms", flush=True)


if __name__ == "__main__":
    main()
