// Package ops runs operations: journalled workflows of idempotent steps.
//
// An operation is created by the service (in the same store transaction
// as the records it reserves) with step WAIT, a list of resource keys
// ("vm:12", "disk:7") and optional operations it must follow. The engine
// runs an operation once it is first in the queue of every key it holds,
// so operations on one resource run one at a time in submission order and
// independent ones run in parallel.
//
// The journal: before a step acts, the operation records (Cursor=i,
// InStep=true). Completion of step i is recorded by the begin record of
// step i+1 or by the final record, so each step costs one write. After a
// crash, an operation in RUN simply runs its current step again (steps
// measure, act, verify); one that was rolling back continues rolling back.
//
// Steps read the operation's typed input (fixed at submission) and
// journal their typed progress (a deadline, a message count) as JSON in
// the operation's record, through Input, Progress, SetProgress and a
// step's Prepare (data.go). A document that does not decode as the type
// the step asks for fails the step, naming the operation.
//
// Rollback undoes steps from the current one down to the first, then
// calls the workflow's Abandon hook in the same transaction that records
// ERROR or CANCEL, so records reserved at submission go with it. Steps
// marked NoReturn cannot be undone: once one has begun, cancel is refused
// and failures are retried forward instead.
package ops
