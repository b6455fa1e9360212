"""The retrieval baseline: chunking, offline embeddings, chromadb collections, retrieval."""
