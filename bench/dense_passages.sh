#!/usr/bin/env bash
# What dense_passages costs and buys on RealTimeQA: a fresh index (so an empty embedding cache) for each N,
# timed by `newsrag bench`, then scored by `newsrag eval`. Usage: bench/dense_passages.sh OUT_DIR [N ...]
# (N = 0 embeds every passage). Each run's table is in OUT_DIR/dpN.txt, its numbers in dpN.json, eval in evalN.txt.
set -euo pipefail
out=${1:?usage: bench/dense_passages.sh OUT_DIR [N ...]}
shift
model=${MODEL:-all-MiniLM-L6-v2}
questions=${NEWSRAG_REALTIMEQA:-$(dirname "$0")/../../shared/eval/realtimeqa-dev}/questions.jsonl
mkdir -p "$out"
for n in "${@:-1 2 3}"; do
    rm -rf "$out/dp$n"
    echo "dense_passages=$n model=$model start $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/log"
    newsrag bench --corpus realtimeqa --model "$model" --dense-passages "$n" --index "$out/dp$n" --no-app \
        --json "$out/dp$n.json" > "$out/dp$n.txt"
    echo "dense_passages=$n ingest done $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/log"
    newsrag eval "$questions" --index "$out/dp$n" --report "$out/eval$n.json" > "$out/eval$n.txt" 2>/dev/null
    echo "dense_passages=$n eval done $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/log"
done
