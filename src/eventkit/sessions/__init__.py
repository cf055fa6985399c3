"""BarCamp sessions and working groups: proposals, interest, the organiser's grid and plan, host notes, groups."""
