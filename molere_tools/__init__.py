"""Tooling around the library, not part of what the stages run: the meta-step benchmark behind
`molere-bench bench meta-step`, scratch study repositories for the end-to-end tests and the
pipeline benchmark, and fabricated datasets in the real on-disk formats."""
