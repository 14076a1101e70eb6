package runs

import "errors"

// ErrClosed is returned by a Session's methods after Close.
var ErrClosed = errors.New("runs: session is closed")

// Close releases what the session holds: the model's variables (their
// tensors are finalized: weights, EMA and optimizer state, 178 MB for a NICE
// model on 28x28 images, are freed without waiting for the garbage collector,
// and on an accelerator so is their device memory), the datasets and the
// model. A process that opens many sessions (an experiment driver, a server)
// should close each one when done with it: a session it keeps reachable
// otherwise keeps its data and weights alive.
//
// The backend is not finalized: engine.NewBackend hands out one backend per
// configuration, shared by every session of the process, and finalizing it
// would break the others. Close only drops this session's reference to it.
// The buffers the Go backend pools for reuse after a large sampling belong
// to that shared backend, not to the session (the garbage collector frees
// them after two cycles without use).
//
// The session cannot be used after Close: Sample, LogProb, WriteSamples,
// WriteDensity, Export and ModelTensors return ErrClosed, and Runtime must
// not be called. Run, Info, Transform and Step stay readable. Slices taken
// from the datasets before Close (Train.X, Test.Y, ...) stay valid. Close is
// safe to call more than once (and on a nil session); only the first call
// does anything.
func (s *Session) Close() error {
	if s == nil || s.closed() {
		return nil
	}
	s.Store.Finalize()
	// A nil Store marks the session closed (see closed).
	s.Store = nil
	s.Backend = nil
	s.Model = nil
	s.Train, s.Test = nil, nil
	return nil
}

// closed reports whether Close was called. Every open session has a Store:
// newSessionFor creates it and only Close removes it.
func (s *Session) closed() bool { return s.Store == nil }

// checkOpen is the error of a method called on a closed session.
func (s *Session) checkOpen() error {
	if s == nil || s.closed() {
		return ErrClosed
	}
	return nil
}
