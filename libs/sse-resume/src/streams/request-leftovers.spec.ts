import { releaseRequestLeftovers } from './request-leftovers';

describe('releaseRequestLeftovers()', () => {
  it("lets go of Express' routing leftovers by overwriting them (never deleting: no dictionary-mode object)", () => {
    const request = { next: () => undefined, _parsedUrl: {}, params: { taskId: 't' }, route: {}, url: '/x' };
    const response = { locals: {}, statusCode: 200 };
    releaseRequestLeftovers(request, response);
    expect(request).toEqual({
      next: undefined,
      _parsedUrl: undefined,
      params: undefined,
      route: undefined,
      url: '/x',
    });
    expect(Object.keys(request)).toEqual(['next', '_parsedUrl', 'params', 'route', 'url']);
    expect(response).toEqual({ locals: undefined, statusCode: 200 });
  });

  it('adds nothing to objects that do not have them (Fastify, raw Node)', () => {
    const request = { url: '/x' };
    const response = {};
    releaseRequestLeftovers(request, response);
    expect(Object.keys(request)).toEqual(['url']);
    expect(Object.keys(response)).toEqual([]);
  });
});
