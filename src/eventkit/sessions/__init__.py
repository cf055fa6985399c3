"""BarCamp sessions: proposals, interest, the board, the plan, working groups."""
