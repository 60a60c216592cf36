"""What a person sees: live progress and timestamped lines of running builds (`progress`), and
graphs drawn as text trees, Mermaid, dot or JSON (`diagram`), Ctrl-C and SIGTERM handled one
way (`interrupts`). Knows nothing of recipes or AWS.

May import: bakery.errors.
"""
