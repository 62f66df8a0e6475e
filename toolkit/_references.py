"""The works the methods paragraphs cite, in full, so every ``methods_text()`` ends with them.

A paragraph cites a work in the usual author-year form ("Jacobson & Truax, 1991",
"Tang and DeRubeis (1999)", "Lutz et al., 2013"); :func:`with_references` finds the citations
in a paragraph and appends the full references, in alphabetical order. Add a work here when
a method starts citing it: the key is the first author's surname and the year, which is all
the citation needs to contain.
"""

from __future__ import annotations

import re

__all__ = [
    "REFERENCES",
    "TOOLKIT_AUTHOR",
    "TOOLKIT_YEAR",
    "cited",
    "toolkit_reference",
    "with_references",
]

#: (first author's surname, year) -> the full reference (APA style).
REFERENCES: dict[tuple[str, str], str] = {
    ("Auger", "1989"): (
        "Auger, I. E., & Lawrence, C. E. (1989). Algorithms for the optimal identification "
        "of segment neighborhoods. Bulletin of Mathematical Biology, 51(1), 39-54."
    ),
    ("Bates", "2015"): (
        "Bates, D., Maechler, M., Bolker, B., & Walker, S. (2015). Fitting linear "
        "mixed-effects models using lme4. Journal of Statistical Software, 67(1), 1-48."
    ),
    ("Davies", "1987"): (
        "Davies, R. B. (1987). Hypothesis testing when a nuisance parameter is present only "
        "under the alternative. Biometrika, 74(1), 33-43."
    ),
    ("Davies", "2002"): (
        "Davies, R. B. (2002). Hypothesis testing when a nuisance parameter is present only "
        "under the alternative: Linear model case. Biometrika, 89(2), 484-489."
    ),
    ("Cohen", "1960"): (
        "Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and "
        "Psychological Measurement, 20(1), 37-46."
    ),
    ("Hageman", "1999"): (
        "Hageman, W. J. J. M., & Arrindell, W. A. (1999). Establishing clinically "
        "significant change: Increment of precision and the distinction between individual "
        "and group level of analysis. Behaviour Research and Therapy, 37(12), 1169-1193."
    ),
    ("Hsu", "1989"): (
        "Hsu, L. M. (1989). Reliable changes in psychotherapy: Taking into account "
        "regression toward the mean. Behavioral Assessment, 11(4), 459-467."
    ),
    ("Hudson", "1966"): (
        "Hudson, D. J. (1966). Fitting segmented curves whose join points have to be "
        "estimated. Journal of the American Statistical Association, 61(316), 1097-1129."
    ),
    ("Jacobson", "1991"): (
        "Jacobson, N. S., & Truax, P. (1991). Clinical significance: A statistical approach "
        "to defining meaningful change in psychotherapy research. Journal of Consulting and "
        "Clinical Psychology, 59(1), 12-19."
    ),
    ("Jackson", "2005"): (
        "Jackson, B., Scargle, J. D., Barnes, D., et al. (2005). An algorithm for optimal "
        "partitioning of data on an interval. IEEE Signal Processing Letters, 12(2), 105-108."
    ),
    ("Johnson", "2010"): (
        "Johnson, V. E., & Rossell, D. (2010). On the use of non-local prior densities in "
        "Bayesian hypothesis tests. Journal of the Royal Statistical Society: Series B, "
        "72(2), 143-170."
    ),
    ("Killick", "2012"): (
        "Killick, R., Fearnhead, P., & Eckley, I. A. (2012). Optimal detection of "
        "changepoints with a linear computational cost. Journal of the American Statistical "
        "Association, 107(500), 1590-1598."
    ),
    ("Lutz", "2013"): (
        "Lutz, W., Ehrlich, T., Rubel, J., et al. (2013). The ups and downs of "
        "psychotherapy: Sudden gains and sudden losses identified with session reports. "
        "Psychotherapy Research, 23(1), 14-24."
    ),
    ("Muggeo", "2003"): (
        "Muggeo, V. M. R. (2003). Estimating regression models with unknown break-points. "
        "Statistics in Medicine, 22(19), 3055-3071."
    ),
    ("Muggeo", "2008"): (
        "Muggeo, V. M. R. (2008). segmented: An R package to fit regression models with "
        "broken-line relationships. R News, 8(1), 20-25."
    ),
    ("Nunnally", "1983"): (
        "Nunnally, J. C., & Kotsch, W. E. (1983). Studies of individual subjects: Logic and "
        "methods of analysis. British Journal of Clinical Psychology, 22(2), 83-93."
    ),
    ("Raudenbush", "2002"): (
        "Raudenbush, S. W., & Bryk, A. S. (2002). Hierarchical linear models: Applications "
        "and data analysis methods (2nd ed.). Sage."
    ),
    ("Sheppard", "1898"): (
        "Sheppard, W. F. (1898). On the calculation of the most probable values of "
        "frequency-constants, for data arranged according to equidistant division of a "
        "scale. Proceedings of the London Mathematical Society, 29, 353-380."
    ),
    ("Speer", "1992"): (
        "Speer, D. C. (1992). Clinically significant change: Jacobson and Truax (1991) "
        "revisited. Journal of Consulting and Clinical Psychology, 60(3), 402-408."
    ),
    ("Tang", "1999"): (
        "Tang, T. Z., & DeRubeis, R. J. (1999). Sudden gains and critical sessions in "
        "cognitive-behavioral therapy for depression. Journal of Consulting and Clinical "
        "Psychology, 67(6), 894-904."
    ),
    ("Wilson", "1927"): (
        "Wilson, E. B. (1927). Probable inference, the law of succession, and statistical "
        "inference. Journal of the American Statistical Association, 22(158), 209-212."
    ),
    ("Zhang", "2007"): (
        "Zhang, N. R., & Siegmund, D. O. (2007). A modified Bayes information criterion with "
        "applications to the analysis of comparative genomic hybridization data. Biometrics, "
        "63(1), 22-32."
    ),
    ("Kenward", "1997"): (
        "Kenward, M. G., & Roger, J. H. (1997). Small sample inference for fixed effects from "
        "restricted maximum likelihood. Biometrics, 53(3), 983-997."
    ),
    ("Kuznetsova", "2017"): (
        "Kuznetsova, A., Brockhoff, P. B., & Christensen, R. H. B. (2017). lmerTest package: "
        "Tests in linear mixed effects models. Journal of Statistical Software, 82(13), 1-26."
    ),
    ("Satterthwaite", "1946"): (
        "Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance "
        "components. Biometrics Bulletin, 2(6), 110-114."
    ),
    ("Singer", "2003"): (
        "Singer, J. D., & Willett, J. B. (2003). Applied longitudinal data analysis: Modeling "
        "change and event occurrence. Oxford University Press."
    ),
    ("Abril-Pla", "2023"): (
        "Abril-Pla, O., Andreani, V., Carroll, C., Dong, L., Fonnesbeck, C. J., Kochurov, M., "
        "Kumar, R., Lao, J., Luhmann, C. C., Martin, O. A., Osthege, M., Vieira, R., Wiecki, "
        "T., & Zinkov, R. (2023). PyMC: A modern, and comprehensive probabilistic programming "
        "framework in Python. PeerJ Computer Science, 9, e1516."
    ),
    ("Hoffman", "2014"): (
        "Hoffman, M. D., & Gelman, A. (2014). The No-U-Turn sampler: Adaptively setting path "
        "lengths in Hamiltonian Monte Carlo. Journal of Machine Learning Research, 15, "
        "1593-1623."
    ),
    ("Lindeløv", "2020"): (
        "Lindeløv, J. K. (2020). mcp: An R package for regression with multiple change "
        "points. OSF Preprints. https://doi.org/10.31219/osf.io/fzqxv"
    ),
    ("Mitchell", "1988"): (
        "Mitchell, T. J., & Beauchamp, J. J. (1988). Bayesian variable selection in linear "
        "regression. Journal of the American Statistical Association, 83(404), 1023-1032."
    ),
    ("Tukey", "1960"): (
        "Tukey, J. W. (1960). A survey of sampling from contaminated distributions. In I. "
        "Olkin (Ed.), Contributions to probability and statistics (pp. 448-485). Stanford "
        "University Press."
    ),
    ("Vehtari", "2017"): (
        "Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation "
        "using leave-one-out cross-validation and WAIC. Statistics and Computing, 27(5), "
        "1413-1432."
    ),
    ("Vehtari", "2021"): (
        "Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., & Bürkner, P.-C. (2021). "
        "Rank-normalization, folding, and localization: An improved R-hat for assessing "
        "convergence of MCMC. Bayesian Analysis, 16(2), 667-718."
    ),
}

#: How the library itself is cited (docs/CITATION.cff says the same).
TOOLKIT_AUTHOR = "The therapy-breakthroughs developers"
TOOLKIT_YEAR = "2026"


def toolkit_reference() -> str:
    """The library's own full reference (APA style), with the installed version."""
    from ._version import __version__

    return (
        f"{TOOLKIT_AUTHOR}. ({TOOLKIT_YEAR}). therapy-breakthroughs: Breakthroughs in "
        f"psychotherapy outcome data (Version {__version__}) [Computer software; Python "
        "package toolkit]."
    )


_HEADING = "\n\nReferences\n"
# A surname, then within the same citation (no sentence break, at most ~60 characters) the
# year: "Jacobson & Truax, 1991", "Jacobson and Truax (1991)", "Lutz et al., 2013".
_CITATION = r"\b{surname}\b[^.;()]{{0,60}}?[,(]\s*{year}\b|\b{surname} et al\.,? \(?{year}\b"


def cited(text: str) -> list[str]:
    """The full references of the works a paragraph cites, alphabetically."""
    found = [
        ref
        for (surname, year), ref in REFERENCES.items()
        if re.search(_CITATION.format(surname=re.escape(surname), year=year), text)
    ]
    return sorted(found)


def with_references(text: str, *, cite_toolkit: bool = False) -> str:
    """The paragraph followed by the full references of the works it cites.

    A references section already at the end (from a nested paragraph) is rebuilt, so each
    work is listed once. With ``cite_toolkit`` the library's own reference
    (:func:`toolkit_reference`) is listed too, as every result's ``methods_text()`` does.

    Examples
    --------
    >>> print(with_references("Reliable change (Jacobson & Truax, 1991) was assessed."))
    Reliable change (Jacobson & Truax, 1991) was assessed.
    <BLANKLINE>
    References
    Jacobson, N. S., & Truax, P. (1991). Clinical significance: A statistical approach to defining meaningful change in psychotherapy research. Journal of Consulting and Clinical Psychology, 59(1), 12-19.
    """  # noqa: E501
    body = text.split(_HEADING, 1)[0].rstrip()
    refs = cited(body)
    if cite_toolkit:
        refs = sorted({*refs, toolkit_reference()})
    return body + (_HEADING + "\n".join(refs) if refs else "")
