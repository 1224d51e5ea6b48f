"""Runs from plan to end: the plan of a request, queuing (`enqueue`), executing (`runner`, `steps`,
`state`, `executor`), ending from outside (`lifecycle`: cancel, sweeps) and handing a run's Slack
work to the `notify` queue. Never imports the Slack code: a `notify` worker does the posting. May
import the context and factory and everything below them.
"""
