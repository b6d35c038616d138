"""Own the flow modules; each exports one ``Flow`` value and registers nothing on import.

The composition root picks the flows and hands them to ``conversations.engine.Engine``.
"""
