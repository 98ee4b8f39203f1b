// Package sshtest is an in-process SSH + sftp server for tests: it listens
// on 127.0.0.1, authenticates users by key or password, runs exec requests
// with /bin/sh as the current (test) user in a work directory, serves sftp
// and direct-tcpip (so it can be a jump host), and can be killed or given a
// new host key to simulate faults.
//
// sudo is emulated by a stand-in script on the commands' PATH that speaks
// sudo's -n/-S/-k/-p protocol and checks the per-user sudo password (it does
// not change user). It is test code: never use it to serve real hosts.
package sshtest
