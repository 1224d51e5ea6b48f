"""The bottom layer: settings, key names, ids, durations, redaction, Redis value helpers, the RQ
task-name registry and the one exceptions module. Imports nothing else of rollbot.
"""
