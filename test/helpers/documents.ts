// CMK 1.5's pool document (docs/cmk-compatibility.md, "The pool document") exactly as PyYAML
// writes it: block style, sockets as integers, PIDs as quoted strings. Shared by the state-document and YAML tests.
export const specPoolDocument = `exclusive:
  0:
    4,12: []
    5,13: []
    6,14:
    - '48624'
  1: {}
infra:
  0:
    0,8,1,9,2,10:
    - '48611'
  1: {}
shared:
  0:
    3,11: []
  1: {}
`;
