"""The desk's nouns: market snapshot, scenario, scenario set, instruments, risk-neutral measure.

Objects are frozen dataclasses validated when built; a rule broken raises
:class:`scenarios.errors.DomainError` naming the field, never an HTTP status. Conventions:
spot JPY per USD; rates continuously compounded decimals (ACT/365F); vols annualised
decimals; dates are ``datetime.date``; times in years ACT/365F from the valuation date.
"""
