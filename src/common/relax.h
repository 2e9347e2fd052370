/* SPDX-License-Identifier: MIT */
/* The pause between two looks of a spinning wait: the frontend's spin
 * phase (src/frontend/front_wait.c) and pvcalls-bench's timed loops. */
#ifndef PVCALLS_INTERNAL_RELAX_H
#define PVCALLS_INTERNAL_RELAX_H

/* ~30 ns on x86 (PAUSE); a hint to the core, never a sleep. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
