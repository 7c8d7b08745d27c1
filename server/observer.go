package server

// ReserveOutcome tells how a Reserve that succeeded was answered.
type ReserveOutcome string

// The outcomes of a Reserve that succeeded.
const (
	// OutcomeBase is a new namespace with the app's base name.
	OutcomeBase ReserveOutcome = "base"
	// OutcomeTagged is a new namespace with a tag from the app id, because
	// the base name was taken, reserved or empty.
	OutcomeTagged ReserveOutcome = "tagged"
	// OutcomeExisting is the namespace the app already had.
	OutcomeExisting ReserveOutcome = "existing"
)

// Observer is told what the service answered, so that it can be counted.
// Its methods run on the goroutine of each call, many at once, before the
// answer is sent: they must be safe for concurrent use and quick.
type Observer interface {
	// Reserved is called once for each Reserve that succeeded.
	Reserved(outcome ReserveOutcome)
}

// noObserver is the Observer of a Service given none.
type noObserver struct{}

func (noObserver) Reserved(ReserveOutcome) {}

// reserveOutcome classifies a Reserve that succeeded: name is the namespace
// it answered with, created whether the claim made it, p the plan it tried.
// The base name is a candidate only when it is usable, and then the first.
func reserveOutcome(name string, created bool, p plan) ReserveOutcome {
	switch {
	case !created:
		return OutcomeExisting
	case p.base != "" && name == p.base:
		return OutcomeBase
	default:
		return OutcomeTagged
	}
}
