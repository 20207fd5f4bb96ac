"""Runtime: the processes' loops (apply worker, Kafka worker, background
loops, serving, onboarding runs), over the services. Nothing here decides a rule."""
