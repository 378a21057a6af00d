"""One module per artifact kind: how it is written, read (verified once) and judged (`problems`).

`layout` owns every path under data/ and artifacts/; `common` holds the rules all versioned
artifacts share (no silent rewrite, hashed files). The kinds: `windows` (labeled and unlabeled
window versions), `split`, `synthetic` (synthetic caches), `encoder` (TS2Vec), `checkpoint`
(model checkpoint and training record), `run_manifest`, and `resume` (resumable stage state).
"""
