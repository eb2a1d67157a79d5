"""The shared experiment queue: the ledger, the judge, the GPU worker and the Ray backend."""
