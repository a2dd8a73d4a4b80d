"""`vigil bench challenges`: step-up head-turn challenges on real head turns and flat pictures."""
