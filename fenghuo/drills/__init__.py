"""Drills as chaos engineering: scenario files (:mod:`.scenario`), the faults they inject (:mod:`.inject`),
simulated responders (:mod:`.responders`), runs on their own clock (:mod:`.runner`) and the scorecard
(:mod:`.scorecard`). See docs/drills.md.
"""
