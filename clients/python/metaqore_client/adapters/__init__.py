"""Adapters for agent frameworks: ``langgraph`` (extra ``[langgraph]``) and ``openai_agents``
(extra ``[openai-agents]``). Each imports its framework; the client itself never does."""
