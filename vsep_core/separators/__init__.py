"""The separation methods, one per module (as nussl's ``separation/benchmark``); the registry is
:mod:`vsep_core.baselines`.

============================  ==============================================================
:mod:`.base`                  the interface (``Separator``, ``Separation``), input checks, STFT
:mod:`.caches`                the seed methods' analysis and greedy-search caches (locked)
:mod:`.seed`                  ``seed_progressive``, ``seed_greedy``, ``seed_greedy_best``
:mod:`.joint_matching`        ``joint``
:mod:`.exact_eq`              ``exact_eq`` (oracle: the method's ceiling)
:mod:`.ideal_mask`            ``irm``, ``ibm``, ``wiener`` (oracles)
:mod:`.repet_sim`             ``repet_sim`` (blind), with :mod:`.repet_kernels`' compiled loops
:mod:`.hpss`                  ``hpss`` (two-stage, blind) and ``hpss_percussive`` (drums, blind)
:mod:`.mixture`               ``mixture`` (the floor)
============================  ==============================================================
"""
