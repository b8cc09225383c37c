// The order of a plan's steps: each step after the steps that define what
// it reads, otherwise in program order. Private to ops/jit/passes/.

import { type Step, stepInputs, stepOutputs } from "../plan.ts";
import type { Program, Var } from "../program.ts";

/** `steps` (in program order of their first equation) sorted so that every read follows its definition. */
export function orderSteps(p: Program, steps: readonly Step[]): Step[] {
  const definedBy = new Map<Var, number>();
  steps.forEach((s, i) => {
    for (const v of stepOutputs(s)) definedBy.set(v, i);
  });
  const state = new Uint8Array(steps.length); // 0 new, 1 on the stack, 2 done
  const out: Step[] = [];
  for (let root = 0; root < steps.length; root++) {
    if (state[root]) continue;
    // Depth-first, without recursion: a stack of (step, next input).
    const stack: [number, number][] = [[root, 0]];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const ins = stepInputs(steps[top[0]]!);
      if (top[1] < ins.length) {
        const d = definedBy.get(ins[top[1]++]!);
        if (d === undefined || state[d] === 2) continue;
        if (state[d] === 1) {
          throw new Error(
            `fuseProgram: the plan of a ${p.eqns.length}-equation program has a cycle (a bug in the fusion pass)`,
          );
        }
        state[d] = 1;
        stack.push([d, 0]);
      } else {
        stack.pop();
        state[top[0]] = 2;
        out.push(steps[top[0]]!);
      }
    }
  }
  return out;
}
