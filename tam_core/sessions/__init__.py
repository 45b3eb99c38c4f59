"""One video's tracking session: objects and keyframes apart from the models
(``session``) and the nearest-keyframe spans and tracker runs (``spans``)."""
