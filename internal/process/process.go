// Package process says when this process started, one instant for every
// package that reports it (the admin API's views, a handoff's offer), so
// that an operator can match them up.
package process

import "time"

// Started stands for when the process started: package initialisation
// comes within moments of it, on every platform.
var Started = time.Now()
