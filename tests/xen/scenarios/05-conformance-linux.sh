# SPDX-License-Identifier: MIT
# scenario 5: the conformance suite (pvcalls-conformance --xen --profile
# linux) against Linux's pvcalls-back, both in dom0. Cases where Linux does
# what its profile documents instead of what the spec says are reported as
# DIVERGES (notes in the summary), and pass.
# Runs after the others: its hostile cases have oopsed Linux's pvcalls-back
# (the linux profile no longer sends them without --unsafe; see
# docs/xen-harness.md, "Scenario 5: what the linux profile does").
# order: 99
# title: conformance suite --profile linux vs Linux pvcalls-back
# needs: pvcalls-conformance
# timeout: 300
linux_back_load back-load || return 0
pv_dev_create 0 0 0
backend_ready back-initwait "$(be_dir 0 0 0)" "pvcalls-back" || return 0
need_bin conformance pvcalls-conformance || return 0
step "pvcalls-conformance --xen --profile linux"
conformance_run conformance --profile linux
