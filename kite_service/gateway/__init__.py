"""The gateway: the official Kite clients of every program on this machine, through one door that speaks Kite."""
