"""The offline answer's parts: a passage read as blocks (prose, lists, tables), the blocks
scored against the question, and the answer composed from the best ones."""
