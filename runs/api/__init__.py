"""The JSON API of what exists: prompts, workflows, versions, triggers and run lifecycle."""
