"""The paper's statistics as small pure functions returning dataclasses (``to_dict()`` -> JSON).

Modules: ``descriptives`` (Tables 1-2), ``roc`` (MedCalc-style ROC), ``contingency`` (Fisher),
``logistic`` (ML + Firth), ``rm_anova`` (mixed-design ANOVA), ``effect_size`` (Hedges' g),
``mixed`` (linear mixed model), ``mmrm`` (MMRM, unstructured covariance). Methods and their
mapping to Statistica / MedCalc / R:
``docs/methods.md``.
"""
