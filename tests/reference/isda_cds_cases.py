"""ISDA CDS Standard Model reference figures, as QuantLib's own test suite reproduces them.

Source: lballabio/QuantLib, ``test-suite/creditdefaultswap.cpp`` (QuantLib 1.3x–1.4x):

* ``testIsdaEngine`` — trade date 2009-05-21; an ISDA USD yield curve from "Markit published
  rates" (deposits and swaps below); conventional quotes at two spreads and two recoveries
  for five term dates; the expected upfront of the 100bp standard contract on 10mm notional,
  ``notional * fairUpfront()``, is Markit's (ISDA CDS Standard Model) figure. The test checks
  ``QL_CHECK_CLOSE(..., 1e-6)``, i.e. Boost's relative tolerance in percent: 1e-8 relative.
* ``testIsdaCalculatorReconcileSingleQuote`` — trade date 2021-07-26, EUR curve (negative
  rates), 2026-06-20 maturity, 100bp coupon, 67.13bp conventional spread, 40% recovery, 1mm
  notional: NPV −16070.7 (accrual rebate included) and accrual 1000; and its companion
  ``testIsdaCalculatorReconcileSingleWithIssueDateInThePast``: NPV −17070.77 without the
  accrual rebate. Tolerance ``1e-3`` percent, i.e. 1e-5 relative.
* ``testAccrualRebateAmounts`` — accrued premium at step-in of a 100bp contract maturing
  2014-06-20 on 10mm, by trade date, "taken from various test results on the ISDA CDS model
  website https://www.cdsmodel.com/cdsmodel/documentation.html"; tolerance 0.01 absolute.
"""

from __future__ import annotations

import datetime as dt

# --- testIsdaEngine -------------------------------------------------------------------------
USD_2009_TRADE_DATE = dt.date(2009, 5, 21)
# Deposits: months, quote (Act/360, 2 settlement days, weekends-only, modified following).
USD_2009_DEPOSITS = ((1, 0.003081), (2, 0.005525), (3, 0.007163), (6, 0.012413), (9, 0.014),
                     (12, 0.015488))  # fmt: skip
# Swaps: years, quote (semiannual 30/360 fixed vs 3M "IsdaIbor", weekends-only, mod. following).
USD_2009_SWAPS = ((2, 0.011907), (3, 0.01699), (4, 0.021198), (5, 0.02444), (6, 0.026937),
                  (7, 0.028967), (8, 0.030504), (9, 0.031719), (10, 0.03279), (12, 0.034535),
                  (15, 0.036217), (20, 0.036981), (25, 0.037246), (30, 0.037605))  # fmt: skip
USD_2009_NOTIONAL = 10_000_000.0
USD_2009_COUPON = 0.01
# (term date, quoted spread, recovery, Markit upfront of the 100bp contract on 10mm)
USD_2009_UPFRONTS = (
    (dt.date(2010, 6, 20), 0.001, 0.2, -97798.29358),
    (dt.date(2010, 6, 20), 0.001, 0.4, -97776.11889),
    (dt.date(2010, 6, 20), 0.1, 0.2, 914971.5977),
    (dt.date(2010, 6, 20), 0.1, 0.4, 894985.6298),
    (dt.date(2011, 6, 20), 0.001, 0.2, -186921.3594),
    (dt.date(2011, 6, 20), 0.001, 0.4, -186839.8148),
    (dt.date(2011, 6, 20), 0.1, 0.2, 1646623.672),
    (dt.date(2011, 6, 20), 0.1, 0.4, 1579803.626),
    (dt.date(2012, 6, 20), 0.001, 0.2, -274298.9203),
    (dt.date(2012, 6, 20), 0.001, 0.4, -274122.4725),
    (dt.date(2012, 6, 20), 0.1, 0.2, 2279730.93),
    (dt.date(2012, 6, 20), 0.1, 0.4, 2147972.527),
    (dt.date(2016, 6, 20), 0.001, 0.2, -592420.2297),
    (dt.date(2016, 6, 20), 0.001, 0.4, -591571.2294),
    (dt.date(2016, 6, 20), 0.1, 0.2, 3993550.206),
    (dt.date(2016, 6, 20), 0.1, 0.4, 3545843.418),
    (dt.date(2019, 6, 20), 0.001, 0.2, -797501.1422),
    (dt.date(2019, 6, 20), 0.001, 0.4, -795915.9787),
    (dt.date(2019, 6, 20), 0.1, 0.2, 4702034.688),
    (dt.date(2019, 6, 20), 0.1, 0.4, 4042340.999),
)
USD_2009_RELATIVE_TOLERANCE = 1e-8

# --- testIsdaCalculatorReconcileSingleQuote (+ ...WithIssueDateInThePast) -------------------
EUR_2021_TRADE_DATE = dt.date(2021, 7, 26)
EUR_2021_DEPOSITS = ((1, -0.0056), (3, -0.00544), (6, -0.00519), (12, -0.00493))
# Swaps: years, quote (annual 30/360 fixed vs 6M "IsdaIbor", weekends-only, mod. following).
EUR_2021_SWAPS = ((2, -0.00482), (3, -0.00442), (4, -0.00399), (5, -0.00352), (6, -0.00297),
                  (7, -0.00237), (8, -0.00176), (9, -0.00114), (10, -0.00054), (12, 0.00057),
                  (15, 0.00188), (20, 0.00294), (30, 0.00282))  # fmt: skip
EUR_2021_MATURITY = dt.date(2026, 6, 20)
EUR_2021_COUPON = 0.01
EUR_2021_SPREAD = 0.006713
EUR_2021_RECOVERY = 0.4
EUR_2021_NOTIONAL = 1_000_000.0
EUR_2021_NPV_WITH_REBATE = -16070.7
EUR_2021_NPV_WITHOUT_REBATE = -17070.77
EUR_2021_ACCRUAL = 1000.0
EUR_2021_RELATIVE_TOLERANCE = 1e-5

# --- testAccrualRebateAmounts ---------------------------------------------------------------
ACCRUAL_MATURITY = dt.date(2014, 6, 20)
ACCRUAL_COUPON = 0.01
ACCRUAL_NOTIONAL = 10_000_000.0
# (trade date, accrued at step-in); the source also lists 2014-06-19, whose step-in is the
# maturity itself — outside our contract (maturity must follow the step-in), so left out.
ACCRUALS = (
    (dt.date(2009, 3, 18), 24166.67),
    (dt.date(2009, 3, 19), 0.00),
    (dt.date(2009, 3, 20), 277.78),
    (dt.date(2009, 3, 23), 1111.11),
    (dt.date(2009, 6, 19), 25555.56),
    (dt.date(2009, 6, 20), 25833.33),
    (dt.date(2009, 6, 21), 0.00),
    (dt.date(2009, 6, 22), 277.78),
    (dt.date(2014, 6, 18), 25277.78),
)
ACCRUAL_ABSOLUTE_TOLERANCE = 0.01
