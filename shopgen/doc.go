// Package shopgen generates shop data: a demo catalog and orders through the command
// service (orderengine seed, bench read), and realistic, reproducible event logs appended
// through the domain's deciders (tests and bench projections). It does not import
// package testing, so the binary can use it.
package shopgen
