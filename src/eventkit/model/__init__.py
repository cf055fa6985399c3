"""Pure models of what organisers write and of formats, the lifecycle plan and the BarCamp planner; no I/O."""
