"""What every trainer shares: checkpoints that resume exactly, and the one rule for what may change on resume."""
