"""SAM 2.1 as a tracker (Meta's model through Hugging Face ``transformers``):
``family.py`` the registry entry (light), ``tracker.py`` the streaming
``Sam2Tracker``, ``tiny.py`` a random-weight architecture for tests."""
