"""The two tasks' vocabularies: printed words for the text task, spoken words for the speech task."""

from __future__ import annotations

# 100 frequent English words of 2 to 7 letters, lowercase, all distinct.
PRINTED = (
    "the of and to in is it you that he was for on are with as his they at be this from have or "
    "by one had not but what all were when we there can an your which their said if do will "
    "each about how up out them then she many some so these would other into has more her two "
    "like him see time could no make than first been its who now people my made over did down "
    "only way find use may water long little very after words called just where most know get "
    "through"
).split()

# The twenty command words of the Speech Commands data set: short, common, and some differ
# only in consonants (``six``/``seven``/``stop``, ``on``/``off``/``one``).
SPOKEN = (
    "yes no up down left right on off stop go zero one two three four five six seven eight nine"
).split()
