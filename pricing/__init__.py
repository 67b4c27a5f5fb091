"""Pure numerics: Black/Garman–Kohlhagen kernels, implied vol, the event mixture, curves.

Conventions for the whole package unless a docstring says otherwise: spot and strikes in JPY
per USD; rates continuously compounded decimals; vols annualised decimals; times in years
ACT/365F; premiums in JPY per unit of notional. Functions take and return numpy arrays and
small frozen dataclasses; nothing here imports the web layer.
"""
