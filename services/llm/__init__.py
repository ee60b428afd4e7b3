"""LLM service (contract in proto/paneas/llm/v1; implementation pending)."""
