"""The catalogue of published measures: each entry cites where its numbers come from.

Keep numbers and citation together. A field is None when no single published value could be
attributed to a source; ``notes`` says why. Clinical and functional means are kept only when
both come from the cited source's own samples, so that cut-offs computed from them stay
interpretable. Licensed instruments (OQ-45) carry only facts published in journal articles;
their manuals' normative tables and proprietary algorithms are not shipped.
"""

from __future__ import annotations

from ._instrument import Instrument, Threshold

__all__ = ["CATALOGUE"]

# NHS Talking Therapies (formerly IAPT) defines reliable change and caseness on the PHQ-9 and
# GAD-7 itself; Gyani et al. (2013) is the peer-reviewed account of those definitions.
_NHS_TT = (
    "National Collaborating Centre for Mental Health. The NHS Talking Therapies for Anxiety and "
    "Depression Manual. NHS England (updated regularly); Gyani, A., Shafran, R., Layard, R., & "
    "Clark, D. M. (2013). Enhancing recovery rates: Lessons from year one of IAPT. Behaviour "
    "Research and Therapy, 51(9), 597-606."
)

CATALOGUE: tuple[Instrument, ...] = (
    Instrument(
        name="PHQ-9",
        full_name="Patient Health Questionnaire-9",
        min_score=0,  # 9 items scored 0-3
        max_score=27,
        better="lower",
        reliability=0.89,  # Kroenke et al. 2001: alpha .89 (primary care); .86 in OB-GYN study
        test_retest=0.84,  # Kroenke et al. 2001: self-report vs telephone re-rating within 48 h
        cutoff=10,  # Kroenke et al. 2001: >= 10, sensitivity 88% / specificity 88% for MDD
        reliable_change=6,  # NHS Talking Therapies: a change of 6 or more points is reliable
        reliable_change_citation=_NHS_TT,
        thresholds=(
            Threshold(
                "NHS Talking Therapies caseness",
                10,
                _NHS_TT,
                "Caseness = a score of 10 or more, the same value as Kroenke et al.'s cut-off.",
            ),
        ),
        citation=(
            "Kroenke, K., Spitzer, R. L., & Williams, J. B. W. (2001). The PHQ-9: Validity of a "
            "brief depression severity measure. Journal of General Internal Medicine, 16(9), "
            "606-613."
        ),
        notes=(
            "Reliability from the PHQ Primary Care Study (3,000 patients, 8 US primary care "
            "clinics); alpha was .86 in the companion OB-GYN study (3,000 patients). Test-retest "
            "is the correlation of the self-report with a telephone re-administration by a "
            "mental health professional within 48 hours. Cut-off 10 = start of "
            "the 'moderate' band (5/10/15/20 = mild/moderate/moderately severe/severe). "
            "Clinical and functional means/SDs: none published in the cited source, left None; "
            "German general-population norms (Kocalevent, Hinz & Brähler, 2013, General "
            "Hospital Psychiatry, 35(5), 551-555; n = 5,018) report only sex-specific means "
            "in the abstract (women 3.1, SD 3.5; men 2.7, SD 3.5)."
        ),
    ),
    Instrument(
        name="GAD-7",
        full_name="Generalized Anxiety Disorder 7-item scale",
        min_score=0,  # 7 items scored 0-3
        max_score=21,
        better="lower",
        reliability=0.92,  # Spitzer et al. 2006: Cronbach's alpha
        test_retest=0.83,  # Spitzer et al. 2006: intraclass correlation
        cutoff=10,  # Spitzer et al. 2006: >= 10, sensitivity 89% / specificity 82% for GAD
        reliable_change=4,  # NHS Talking Therapies: a change of 4 or more points is reliable
        reliable_change_citation=_NHS_TT,
        thresholds=(
            Threshold(
                "NHS Talking Therapies caseness",
                8,
                _NHS_TT,
                "Caseness = a score of 8 or more, below Spitzer et al.'s cut-off of 10.",
            ),
        ),
        citation=(
            "Spitzer, R. L., Kroenke, K., Williams, J. B. W., & Löwe, B. (2006). A brief measure "
            "for assessing generalized anxiety disorder: The GAD-7. Archives of Internal "
            "Medicine, 166(10), 1092-1097."
        ),
        notes=(
            "Development sample: 2,740 adult patients in 15 US primary care clinics, 965 of them "
            "interviewed by a mental health professional. Cut-off 10 = start of the 'moderate' "
            "band (5/10/15 = mild/moderate/severe). Clinical and functional means/SDs: none "
            "published in the cited source, left None; German general-population norms (Löwe "
            "et al., 2008, Medical Care, 46(3), 266-274; n = 5,030, alpha .89) report only "
            "sex-specific means in the abstract (women 3.2, SD 3.5; men 2.7, SD 3.2)."
        ),
    ),
    Instrument(
        name="BDI-II",
        full_name="Beck Depression Inventory, Second Edition",
        min_score=0,  # 21 items scored 0-3
        max_score=63,
        better="lower",
        reliability=0.92,  # manual: alpha in 500 outpatients (.93 in 120 college students)
        test_retest=0.93,  # manual: 1-week retest, 26 outpatients
        clinical_mean=22.45,  # manual: 500 outpatients
        clinical_sd=12.75,
        functional_mean=12.56,  # manual: 120 college students
        functional_sd=9.93,
        cutoff=14,  # manual: 0-13 minimal, 14-19 mild, 20-28 moderate, 29-63 severe
        aliases=("BDI2", "BDI-2"),
        citation=(
            "Beck, A. T., Steer, R. A., & Brown, G. K. (1996). Manual for the Beck Depression "
            "Inventory-II. San Antonio, TX: Psychological Corporation."
        ),
        notes=(
            "Norms from the manual: clinical = 500 psychiatric outpatients (4 US outpatient "
            "clinics), functional = 120 college students (not a community sample). Alpha .92 "
            "in outpatients and .93 in students; test-retest .93 over one week in 26 "
            "outpatients from one clinic. Cut-off 14 = start of the manual's 'mild' band "
            "(0-13 minimal). The manual is a book, so its volume/pages do not apply."
        ),
    ),
    Instrument(
        name="BDI",
        full_name="Beck Depression Inventory (1961 original)",
        min_score=0,  # 21 items scored 0-3
        max_score=63,
        better="lower",
        reliability=0.86,  # Beck et al. 1988: mean alpha, psychiatric samples (.81 others)
        cutoff=10,  # Beck et al. 1988: 0-9 minimal, 10-18 mild-moderate, 19-29, 30-63
        aliases=("BDI-I", "BDI1"),
        citation=(
            "Beck, A. T., Ward, C. H., Mendelson, M., Mock, J., & Erbaugh, J. (1961). An "
            "inventory for measuring depression. Archives of General Psychiatry, 4(6), 561-571; "
            "Beck, A. T., Steer, R. A., & Garbin, M. G. (1988). Psychometric properties of the "
            "Beck Depression Inventory: Twenty-five years of evaluation. Clinical Psychology "
            "Review, 8(1), 77-100."
        ),
        notes=(
            "Reliability is the mean coefficient alpha over the psychiatric-patient studies "
            "reviewed by Beck, Steer & Garbin (1988); the mean for non-psychiatric samples was "
            ".81. Test-retest left None: the review reports a wide spread across samples and "
            "intervals, not one value. Cut-off 10 = start of the 'mild to moderate' band of the "
            "Center for Cognitive Therapy guidelines quoted in that review (for patients with "
            "affective disorders). Clinical and functional means/SDs left None: the normative "
            "values of Seggar, Lambert & Hansen (2002, Behavior Therapy, 33(2), 253-269) could "
            "not be verified. Use 'BDI-II' for the 1996 revision."
        ),
    ),
    Instrument(
        name="HAM-D17",
        full_name="Hamilton Rating Scale for Depression, 17-item version",
        min_score=0,  # 9 items scored 0-4 and 8 items scored 0-2
        max_score=52,
        better="lower",
        cutoff=8,  # Zimmerman et al. 2013 bands: 0-7 no depression, 8-16 mild
        reliability=0.789,  # Trajkovic et al. 2011 meta-analysis: pooled internal consistency
        aliases=("HAMD", "HDRS17", "HAM-D", "HRSD17"),
        citation=(
            "Hamilton, M. (1960). A rating scale for depression. Journal of Neurology, "
            "Neurosurgery, and Psychiatry, 23(1), 56-62; Zimmerman, M., Martinez, J. H., "
            "Young, D., Chelminski, I., & Dalrymple, K. (2013). Severity classification on the "
            "Hamilton Depression Rating Scale. Journal of Affective Disorders, 150(2), 384-388; "
            "Trajkovic, G., Starcevic, V., Latas, M., Lestarevic, M., Ille, T., Bukumiric, Z., & "
            "Marinkovic, J. (2011). Reliability of the Hamilton Rating Scale for Depression: A "
            "meta-analysis over a period of 49 years. Psychiatry Research, 189(1), 1-9."
        ),
        notes=(
            "Clinician-rated. Severity bands (Zimmerman et al., 2013; 627 outpatients with major "
            "depression): 0-7 no depression, 8-16 mild, 17-23 moderate, >= 24 severe; cut-off 8 "
            "= first score outside the 0-7 band, the usual remission boundary. Reliability .789 is "
            "the pooled internal consistency of Trajkovic et al.'s (2011) meta-analysis; values "
            "vary widely between studies, so prefer your own sample's reliability where you have "
            "one. Test-retest and norms left None: no single value is attributable."
        ),
    ),
    Instrument(
        name="CORE-10",
        full_name="Clinical Outcomes in Routine Evaluation 10",
        min_score=0,  # 10 items scored 0-4, clinical score = item sum
        max_score=40,
        better="lower",
        reliability=0.90,  # Barkham et al. 2013: alpha
        clinical_mean=19.7,  # Connell & Barkham 2007 manual: primary care counselling, n = 1,835
        clinical_sd=7.7,
        functional_mean=4.7,  # Connell & Barkham 2007 manual: general population, n = 535
        functional_sd=4.8,
        cutoff=11,  # Barkham et al. 2013: clinical cut-off 11.0
        reliable_change=6,  # Barkham et al. 2013: reliable change index of 6 points
        reliable_change_citation=(
            "Barkham, M., et al. (2013). The CORE-10: A short measure of psychological distress "
            "for routine use in the psychological therapies. Counselling and Psychotherapy "
            "Research, 13(1), 3-13."
        ),
        citation=(
            "Barkham, M., Bewick, B., Mullin, T., Gilbody, S., Connell, J., Cahill, J., "
            "Mellor-Clark, J., Richards, D., Unsworth, G., & Evans, C. (2013). The CORE-10: A "
            "short measure of psychological distress for routine use in the psychological "
            "therapies. Counselling and Psychotherapy Research, 13(1), 3-13; Connell, J., & "
            "Barkham, M. (2007). CORE-10 User Manual, Version 1.0. Rugby: CORE System Trust & "
            "CORE Information Management Systems."
        ),
        notes=(
            "Alpha .90, cut-off 11.0 and a reliable change of 6 points (90% CI) from Barkham et "
            "al. (2013). Norms from the CORE-10 manual: clinical = 1,835 UK primary care "
            "counselling clients, functional = 535 adults from the ONS Psychiatric Morbidity "
            "follow-up general-population survey; these were taken from a published summary of "
            "the manual's Table 3 and should be checked against the manual. Test-retest: not "
            "published in the cited sources, left None. Scores 0-40 (item sum = 10 x mean item)."
        ),
    ),
    Instrument(
        name="CORE-OM",
        full_name="Clinical Outcomes in Routine Evaluation - Outcome Measure",
        min_score=0,  # mean of 34 items scored 0-4
        max_score=4,
        better="lower",
        cutoff=1.0,  # Connell et al. 2007: 9.9 on the 0-40 clinical score, rounded to 10
        integer_scores=False,
        citation=(
            "Evans, C., Connell, J., Barkham, M., Margison, F., McGrath, G., Mellor-Clark, J., & "
            "Audin, K. (2002). Towards a standardised brief outcome measure: Psychometric "
            "properties and utility of the CORE-OM. British Journal of Psychiatry, 180(1), "
            "51-60; Connell, J., Barkham, M., Stiles, W. B., Twigg, E., Singleton, N., Evans, "
            "O., & Miles, J. N. V. (2007). Distribution of CORE-OM scores in a general "
            "population, clinical cut-off points and comparison with the CIS-R. British "
            "Journal of Psychiatry, 190(1), 69-74."
        ),
        notes=(
            "Scored here as the mean item score (0-4) of all 34 items. The CORE convention "
            "also reports a 'clinical score' = mean x 10 (0-40); convert such data by dividing "
            "by 10 or register an instrument on the 0-40 scale. Cut-off: Connell et al. (2007) "
            "compared a general-population sample (n = 535) with an aggregated clinical sample "
            "(n = 10,761), found 9.9 on the 0-40 scale and recommend 10, i.e. 1.0 on the mean "
            "scale. Reliability, test-retest and norms left None: Evans et al. (2002) report "
            "internal and test-retest reliability of 0.75-0.95 across domains and samples, but "
            "the all-items values could not be verified."
        ),
    ),
    Instrument(
        name="OQ-45",
        full_name="Outcome Questionnaire-45.2",
        min_score=0,  # 45 items scored 0-4
        max_score=180,
        better="lower",
        reliability=0.93,  # Lambert et al. 1996: alpha
        test_retest=0.84,  # Lambert et al. 1996: 3-week retest, undergraduates
        cutoff=64,  # Lambert et al.: 63 or below functional, 64 or above clinical
        reliable_change=14,  # Lambert et al.: a change of 14 points is reliable
        reliable_change_citation=(
            "Lambert, M. J., Hansen, N. B., & Finch, A. E. (2001). Patient-focused research: "
            "Using patient outcome data to enhance treatment effects. Journal of Consulting and "
            "Clinical Psychology, 69(2), 159-172."
        ),
        aliases=("OQ45.2",),
        citation=(
            "Lambert, M. J., Burlingame, G. M., Umphress, V., Hansen, N. B., Vermeersch, D. A., "
            "Clouse, G. C., & Yanchar, S. C. (1996). The reliability and validity of the "
            "Outcome Questionnaire. Clinical Psychology and Psychotherapy, 3(4), 249-258; "
            "Lambert, M. J., Morton, J. J., Hatfield, D., Harmon, C., Hamilton, S., Reid, R. C., "
            "Shimokawa, K., Christopherson, C., & Burlingame, G. M. (2004). Administration and "
            "Scoring Manual for the OQ-45.2. American Professional Credentialing Services."
        ),
        notes=(
            "Alpha .93 and 3-week test-retest .84 from the US development samples (clinical, "
            "community and undergraduate). Clinical-significance criteria from Lambert et al.: "
            "cut-off 63/64 (64 or more = clinical range) and reliable change of 14 points, as "
            "published in journal articles (Lambert, Hansen & Finch, 2001). The OQ-45 is a "
            "licensed instrument: the manual's normative tables and its expected-recovery "
            "algorithms are proprietary and are not shipped; clinical and functional means/SDs "
            "are left None. Dutch norms differ (cut-off 56, reliable change 18; Timman, de "
            "Jong & de Neve-Enthoven, 2017, Clinical Psychology & Psychotherapy, 24(1), 72-81)."
        ),
    ),
    Instrument(
        name="PCL-5",
        full_name="PTSD Checklist for DSM-5",
        min_score=0,  # 20 items scored 0-4
        max_score=80,
        better="lower",
        reliability=0.94,  # Blevins et al. 2015, Study 1: alpha
        test_retest=0.82,  # Blevins et al. 2015, Study 1: retest r
        cutoff=33,  # Bovin et al. 2016: 31-33 optimally efficient against CAPS-5
        citation=(
            "Blevins, C. A., Weathers, F. W., Davis, M. T., Witte, T. K., & Domino, J. L. (2015). "
            "The Posttraumatic Stress Disorder Checklist for DSM-5 (PCL-5): Development and "
            "initial psychometric evaluation. Journal of Traumatic Stress, 28(6), 489-498; "
            "Bovin, M. J., Marx, B. P., Weathers, F. W., Gallagher, M. W., Rodriguez, P., "
            "Schnurr, P. P., & Keane, T. M. (2016). Psychometric properties of the PTSD "
            "Checklist for Diagnostic and Statistical Manual of Mental Disorders-Fifth Edition "
            "(PCL-5) in veterans. Psychological Assessment, 28(11), 1379-1391."
        ),
        notes=(
            "Reliability from Blevins et al. (2015) Study 1: 278 trauma-exposed college "
            "students. In veterans (Bovin et al., 2016; n = 468) alpha was .96 and test-retest "
            ".84. Cut-off: Bovin et al. found 31-33 optimally efficient for a CAPS-5 PTSD "
            "diagnosis (n = 140); 33 is the upper, more conservative end. Clinical and "
            "functional means/SDs: no general-population norms in the cited sources, left None."
        ),
    ),
    Instrument(
        name="K10",
        full_name="Kessler Psychological Distress Scale (10-item)",
        min_score=10,  # 10 items scored 1-5 (Australian scoring)
        max_score=50,
        better="lower",
        cutoff=20,  # primary-care guideline: under 20 likely well (ABS 2012, Table F)
        aliases=("KESSLER10",),
        citation=(
            "Kessler, R. C., Andrews, G., Colpe, L. J., Hiripi, E., Mroczek, D. K., Normand, "
            "S.-L. T., Walters, E. E., & Zaslavsky, A. M. (2002). Short screening scales to "
            "monitor population prevalences and trends in non-specific psychological distress. "
            "Psychological Medicine, 32(6), 959-976; Andrews, G., & Slade, T. (2001). "
            "Interpreting scores on the Kessler Psychological Distress Scale (K10). Australian "
            "and New Zealand Journal of Public Health, 25(6), 494-497; Australian Bureau of "
            "Statistics (2012). Information paper: Use of the Kessler Psychological Distress "
            "Scale in ABS health surveys, Australia, 2007-08 (cat. no. 4817.0.55.001)."
        ),
        notes=(
            "Scored 1-5 per item (10-50), as in Andrews & Slade (2001) and Australian surveys; "
            "the US 0-4 scoring gives 0-40, so register a separate instrument for it. "
            "Population bands drawing on Andrews & Slade (2001): 10-15 low, 16-21 moderate, "
            "22-29 high, 30-50 very high distress. Cut-off 20 is the primary-care guideline "
            "(under 20 likely well, 20-24 mild, 25-29 moderate, 30-50 severe disorder) used "
            "in the 2001 Victorian Population Health Survey, as documented by the ABS (2012). "
            "Reliability, test-retest and norms: no single value verified in the cited "
            "sources, left None."
        ),
    ),
    Instrument(
        name="SHAPS",
        full_name="Snaith-Hamilton Pleasure Scale",
        min_score=0,  # 14 items, each scored 1 if anhedonic ('disagree'/'strongly disagree')
        max_score=14,
        better="lower",
        cutoff=3,  # Snaith et al. 1995: 0-2 normal, 3 or more abnormal hedonic tone
        citation=(
            "Snaith, R. P., Hamilton, M., Morley, S., Humayan, A., Hargreaves, D., & Trigwell, "
            "P. (1995). A scale for the assessment of hedonic tone: The Snaith-Hamilton "
            "Pleasure Scale. British Journal of Psychiatry, 167(1), 99-103."
        ),
        notes=(
            "Original dichotomous scoring (0-14, higher = more anhedonia). The alternative "
            "1-4 item scoring (14-56) used by some later studies is a different scale; "
            "register it separately. Cut-off: Snaith et al. (1995) treat a score above 2 as "
            "abnormal. Reliability left None: Snaith et al. report it only as satisfactory, "
            "and later alphas (e.g. .91 in 461 MDD outpatients, Nakonezny et al., 2010, "
            "International Clinical Psychopharmacology, 25(6), 328-333) were not verified to "
            "use the 0-14 scoring. Norms: none attributable, left None."
        ),
    ),
    Instrument(
        name="WHO-5",
        full_name="World Health Organization-Five Well-Being Index",
        min_score=0,  # 5 items scored 0-5, raw score
        max_score=25,
        better="higher",
        cutoff=12,  # raw below 13 (percentage <= 50) = poor well-being, screen for depression
        citation=(
            "Topp, C. W., Østergaard, S. D., Søndergaard, S., & Bech, P. (2015). The WHO-5 "
            "Well-Being Index: A systematic review of the literature. Psychotherapy and "
            "Psychosomatics, 84(3), 167-176; World Health Organization Regional Office for "
            "Europe (1998). Wellbeing measures in primary health care: The DepCare project. "
            "Copenhagen: WHO."
        ),
        notes=(
            "Raw score 0-25 (percentage score = raw x 4). Higher = better, so the clinical "
            "range is at or below the cut-off: a raw score below 13 (percentage <= 50, Topp et "
            "al., 2015) indicates poor well-being and warrants screening for depression; a "
            "percentage <= 28 (raw <= 7) suggests likely depression. Reliability, test-retest "
            "and norms: no single value in the cited sources, left None."
        ),
    ),
)
