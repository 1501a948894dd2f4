# The paper's analyses (issue 3): filled in by the analysis stage.
ANALYSIS_OUTPUTS = []
