"""The retrieval baseline: chunking, offline embeddings, chromadb collections, retrieval.

Public API (each imports chromadb / sentence-transformers only when called)::

    from rag_baseline.index import build_index          # docs folder -> persistent collection
    from rag_baseline.retrieve import Retriever, Hit    # top-k search with source ids
    from rag_baseline.prompt import with_context        # hits -> messages for the model
"""
