"""Everything that runs on workers (and in the break-glass CLI). Never imports `bot` or slack_bolt."""
