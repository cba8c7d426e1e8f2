#!/usr/bin/env bash
# Retrieval ablation on the RealTimeQA development set: the same index, the same passages, each part of the
# retriever taken away in turn. Usage: bash bench/retrieval_ablation.sh [INDEX_DIR]
# The index must already hold the corpus: newsrag ingest ../shared/eval/realtimeqa-dev/corpus.jsonl --index DIR
set -euo pipefail
index=${1:-index-realtimeqa}
questions=${QUESTIONS:-../shared/eval/realtimeqa-dev/questions.jsonl}
run() {
    local label=$1; shift
    printf '%-44s ' "$label"
    newsrag eval "$questions" --index "$index" --gold-only --no-choices "$@" 2>/dev/null | grep '^retrieval' | sed 's/.*articles)  *//'
}
run "lexical only (BM25, FTS5)"                --retriever lexical --no-date-prior --story-support 0
run "dense only (MiniLM, FAISS)"               --retriever dense --no-date-prior --story-support 0
run "hybrid: reciprocal rank fusion"           --no-date-prior --story-support 0 --headline-weight 0
run "+ date prior"                             --story-support 0 --headline-weight 0
run "+ story support"                          --headline-weight 0
run "+ headline ranking (the default)"
run "- near-duplicate grouping"                --no-dedup
run "lexical + all of the above"               --retriever lexical
run "dense + all of the above"                 --retriever dense
