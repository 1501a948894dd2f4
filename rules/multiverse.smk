# Sensitivity analyses as a multiverse (issue 4): filled in by the multiverse stage.
MULTIVERSE_OUTPUTS = []
