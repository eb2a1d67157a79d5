"""Agents that do the jobs: the Agent protocol, the runner, and coding, research, shell."""
