"""The shipped manifest of the real-series corpus: every source, its licence, size and checksum.

Read by :func:`tsfm.pretraining.corpus.read_manifest` (``corpus="builtin"``). Each entry names a
loader of :data:`tsfm.pretraining.corpus.LOADERS` (``<package>:<dataset>``); ``series`` and
``sha256`` are what that loader gave when the entry was written with
:func:`tsfm.pretraining.corpus.describe_source`, so a changed package is noticed and skipped.
Kept in code rather than JSON so that it ships with the package like any module.
"""

from __future__ import annotations

SOURCES: tuple[dict[str, object], ...] = (
    {
        "name": "statsmodels:co2",
        "package": "statsmodels",
        "dataset": "co2",
        "licence": "public domain (statsmodels dataset notes)",
        "frequency": "weekly",
        "series": 1,
        "sha256": "864b1b7f464090389c7c99b1b3c78cf39970b3f092f949db942a4faea1b35395",
        "description": "Mauna Loa weekly atmospheric CO2, 1958-2001",
    },
    {
        "name": "statsmodels:danish_data",
        "package": "statsmodels",
        "dataset": "danish_data",
        "licence": "public domain (statsmodels dataset notes)",
        "frequency": "quarterly",
        "series": 5,
        "sha256": "3be4631989bdf908cd5d27c3fa22ebeccc069f29a8f648ba67ffa0e071112c0c",
        "description": "Danish money demand: log real money, income, prices, two interest rates, 1974-1987",
    },
    {
        "name": "statsmodels:elec_equip",
        "package": "statsmodels",
        "dataset": "elec_equip",
        "licence": "public domain (statsmodels dataset notes)",
        "frequency": "monthly",
        "series": 1,
        "sha256": "3f351bad295f4cd8a669943becc7d690f31ce381c82a347da8eca0d653112092",
        "description": "Euro area turnover index, manufacture of electrical equipment, 1996-2017",
    },
    {
        "name": "statsmodels:elnino",
        "package": "statsmodels",
        "dataset": "elnino",
        "licence": "public domain (statsmodels dataset notes)",
        "frequency": "monthly",
        "series": 1,
        "sha256": "be4434a6e645f09d9ad2ddac52656dfeb12381075addc5c2a693234bd7a64856",
        "description": "El Nino sea surface temperatures, 1950-2010, month by month",
    },
    {
        "name": "statsmodels:fertility",
        "package": "statsmodels",
        "dataset": "fertility",
        "licence": "CC-BY-4.0 (World Bank terms of use)",
        "frequency": "yearly",
        "series": 210,
        "sha256": "ace1ead05dd9d6923fadc433ed40c412a6ed59498e0069bc5867b6143d4ab4ed",
        "description": "World Bank total fertility rate per country, 1960-2015",
    },
    {
        "name": "statsmodels:grunfeld",
        "package": "statsmodels",
        "dataset": "grunfeld",
        "licence": "public domain (statsmodels dataset notes)",
        "frequency": "yearly",
        "series": 33,
        "sha256": "7e419c4b345a6c3ce4bbda898b4340678f31c01bd8702b3052379763c28f1a34",
        "description": "Grunfeld investment data: investment, firm value and capital of 10 US firms, 1935-1954",
    },
    {
        "name": "statsmodels:longley",
        "package": "statsmodels",
        "dataset": "longley",
        "licence": "public domain (statsmodels dataset notes)",
        "frequency": "yearly",
        "series": 6,
        "sha256": "e17887d19f025f3f521f495b134189b661c1d30f324e4428ef7de71daf7a74e1",
        "description": "Longley US macroeconomic variables, 1947-1962",
    },
    {
        "name": "statsmodels:macrodata",
        "package": "statsmodels",
        "dataset": "macrodata",
        "licence": "public domain (statsmodels dataset notes)",
        "frequency": "quarterly",
        "series": 12,
        "sha256": "cc082c34f30518e279216d9ae2355a2401562f07255fff031ecf248e761dac97",
        "description": "US macroeconomic data (GDP, consumption, CPI, rates, ...), 1959-2009",
    },
    {
        "name": "statsmodels:nile",
        "package": "statsmodels",
        "dataset": "nile",
        "licence": "public domain (statsmodels dataset notes)",
        "frequency": "yearly",
        "series": 1,
        "sha256": "dcd9430bf108f1499ca14c35f2e4b2e32c15b2f8f611b9054d18e8a6d3923be5",
        "description": "Nile river flows at Aswan, 1871-1970",
    },
    {
        "name": "statsmodels:sunspots",
        "package": "statsmodels",
        "dataset": "sunspots",
        "licence": "public domain (statsmodels dataset notes)",
        "frequency": "yearly",
        "series": 1,
        "sha256": "07be2e505d082d44e94a5074273b9f7933bb71800716482852f4bb767da8222f",
        "description": "Yearly sunspot activity, 1700-2008",
    },
)
